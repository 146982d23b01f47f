{#- dbt's relation helpers that package code calls outside materializations
    (elementary builds its own tables with them). -#}

{#- A scratch relation beside `base_relation`. dbt-postgres makes a session-temporary
    one; DVT's statements may run on different pooled connections, so the scratch
    table is an ordinary one in the same schema, which the caller drops. -#}
{% macro make_temp_relation(base_relation, suffix='__dbt_tmp') %}
    {{ return(adapter.dispatch('make_temp_relation', 'dbt')(base_relation, suffix)) }}
{% endmacro %}

{% macro default__make_temp_relation(base_relation, suffix) %}
    {%- set identifier = base_relation.identifier ~ suffix -%}
    {{ return(base_relation.incorporate(path={"identifier": identifier})) }}
{% endmacro %}

{#- `create table ... as`: `temporary` is accepted and makes an ordinary table, for the
    same reason as above. -#}
{% macro get_create_table_as_sql(temporary, relation, sql) -%}
    {{ return(adapter.dispatch('get_create_table_as_sql', 'dbt')(temporary, relation, sql)) }}
{%- endmacro %}

{% macro default__get_create_table_as_sql(temporary, relation, sql) -%}
    create table {{ relation }} as (
        {{ sql }}
    )
{%- endmacro %}

{% macro sqlite__get_create_table_as_sql(temporary, relation, sql) -%}
    create table {{ relation }} as {{ sql }}
{%- endmacro %}

{% macro get_or_create_relation(database, schema, identifier, type) %}
    {%- set found = adapter.get_relation(database=database, schema=schema, identifier=identifier) -%}
    {%- if found -%}
        {{ return([true, found]) }}
    {%- endif -%}
    {{ return([false, api.Relation.create(database=database, schema=schema, identifier=identifier, type=type)]) }}
{% endmacro %}

{% macro drop_relation_if_exists(relation) %}
    {%- if relation is not none -%}
        {% do adapter.drop_relation(relation) %}
    {%- endif -%}
{% endmacro %}
