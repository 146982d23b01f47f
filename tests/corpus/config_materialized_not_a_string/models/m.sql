{{ config(materialized=5) }}
select 1 as x
