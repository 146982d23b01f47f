-- Federated into maria: raw_orders is on pg, raw_products on maria. DVT extracts
-- the orders from PostgreSQL, joins them in its engine and bulk-loads the result
-- into MariaDB.
{{ config(target='maria', materialized='table') }}

select
    o.id as order_id,
    p.name as product_name,
    p.category,
    o.quantity,
    o.amount
from {{ ref('raw_orders') }} as o
join {{ ref('raw_products') }} as p
    on p.id = o.product_id
