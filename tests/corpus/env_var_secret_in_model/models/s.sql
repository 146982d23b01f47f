select '{{ env_var('DVT_ENV_SECRET_CORPUS_PW') }}' as x
