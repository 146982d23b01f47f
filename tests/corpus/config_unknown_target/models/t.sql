{{ config(target='nowhere') }}
select 1 as x
