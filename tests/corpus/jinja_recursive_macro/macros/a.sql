{% macro a() %}{{ a() }}{% endmacro %}
