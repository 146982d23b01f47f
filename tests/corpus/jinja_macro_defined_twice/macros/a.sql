{% macro twice() %}1{% endmacro %}
