{{ config(materialized='incremental', on_schema_change='sync') }}
select 1 as x
