-- Federated: `customers` is on `crm`, `stg_orders` on `warehouse`. DVT reads
-- both, joins them in its engine and writes the table into `warehouse`.
select
    c.id as customer_id,
    c.name,
    c.country,
    count(o.order_id) as order_count,
    {{ round_money('coalesce(sum(cast(o.amount as double)), 0)') }} as revenue
from {{ ref('customers') }} as c
left join {{ ref('stg_orders') }} as o
    on o.customer_id = c.id
group by c.id, c.name, c.country
