{% macro forever() %}
select 1
