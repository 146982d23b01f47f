-- Non-default pushdown: the model's target is maria and its only input
-- (raw_products) is on maria, so this MySQL SQL runs in MariaDB unchanged.
{{ config(target='maria', materialized='table') }}

select
    category,
    count(*) as product_count,
    round(cast(avg(unit_price) as decimal(12, 4)), 2) as avg_unit_price
from {{ ref('raw_products') }}
group by category
