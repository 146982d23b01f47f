-- Pushdown: `customer_revenue` was materialized into `warehouse`, so this view
-- is created there directly.
{{ config(materialized='view') }}

select
    country,
    count(*) as customer_count,
    sum(order_count) as order_count,
    {{ round_money('sum(revenue)') }} as revenue
from {{ ref('customer_revenue') }}
group by country
