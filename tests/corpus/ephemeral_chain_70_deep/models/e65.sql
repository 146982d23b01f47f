{{ config(materialized='ephemeral') }}
select x + 1 as x from {{ ref('e64') }}
