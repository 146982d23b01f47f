-- Pushdown view on pg: customer_orders was materialized into pg, so this
-- PostgreSQL view is created there directly.
{{ config(materialized='view') }}

select
    coalesce(segment, 'unknown') as segment,
    count(*) as customer_count,
    sum(order_count) as order_count,
    sum(total_amount) as total_amount
from {{ ref('customer_orders') }}
group by coalesce(segment, 'unknown')
