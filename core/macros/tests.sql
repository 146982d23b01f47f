{#- DVT's own versions of dbt's built-in generic tests and the helpers they call. A
    project or package macro of the same name replaces each one, as in dbt. They produce
    the SQL dbt produces, so compiled tests read the same on both tools. -#}

{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- if "__dbt__cte__" in where -%}
            {%- set where = where | replace("__dbt__cte__", "") -%}
        {%- endif -%}
        {%- set filtered -%}
        (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {#- The relation itself, as dbt passes it: package tests check it is one. -#}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}

{% macro should_store_failures() -%}
    {{ return(config.get('store_failures') in (true, 'true', 'True')) }}
{%- endmacro %}

{% macro test_not_null(model, column_name) -%}
{% set column_list = '*' if should_store_failures() else column_name %}
select {{ column_list }}
from {{ model }}
where {{ column_name }} is null

{%- endmacro %}

{% macro test_unique(model, column_name) -%}
select
    {{ column_name }} as unique_field,
    count(*) as n_records

from {{ model }}
where {{ column_name }} is not null
group by {{ column_name }}
having count(*) > 1

{%- endmacro %}

{% macro test_accepted_values(model, column_name, values, quote=True) -%}
with all_values as (

    select
        {{ column_name }} as value_field,
        count(*) as n_records

    from {{ model }}
    group by {{ column_name }}

)

select *
from all_values
where value_field not in (
    {% for value in values -%}
        {% if quote -%}
        '{{ value }}'
        {%- else -%}
        {{ value }}
        {%- endif -%}
        {%- if not loop.last -%},{%- endif %}
    {%- endfor %}
)

{%- endmacro %}

{% macro test_relationships(model, column_name, to, field) -%}
with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
),

parent as (
    select {{ field }} as to_field
    from {{ to }}
)

select
    from_field

from child
left join parent
    on child.from_field = parent.to_field

where parent.to_field is null

{%- endmacro %}
