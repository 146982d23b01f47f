select '{{ env_var('DVT_CORPUS_SURELY_UNSET') }}' as x
