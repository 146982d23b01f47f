select 1 as x
where 1 = {{ var('threshold') }}
