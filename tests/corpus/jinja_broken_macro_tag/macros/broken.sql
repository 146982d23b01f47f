

{% macro x( %}
select 1
{% endmacro %}
