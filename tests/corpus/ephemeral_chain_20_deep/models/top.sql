{{ config(materialized='table') }}
select x from {{ ref('e19') }}
