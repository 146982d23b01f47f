WITH base AS (
  select id from {{ ref('e') }}
)
SELECT id FROM base
