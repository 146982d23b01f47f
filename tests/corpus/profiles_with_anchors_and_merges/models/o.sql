{{ config(target='other', materialized='table') }}
select 2 as y
