select 1 as x
{{ exceptions.raise_compiler_error('custom failure') }}
