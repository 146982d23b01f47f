-- header
with base as (
  select id from {{ ref('e') }}
)
select id from base
