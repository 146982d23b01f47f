{% macro a() %}
{% if execute %}{{ a() }}{% endif %}
{% endmacro %}
