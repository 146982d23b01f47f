-- Federated into pg (the default target): raw_orders is on pg, raw_customers on
-- maria. Written in DVT's engine dialect (DataFusion SQL, standard SQL).
-- Customer 10 has no orders: the left join keeps them with 0 orders.
select
    c.id as customer_id,
    c.name as customer_name,
    c.segment,
    count(o.id) as order_count,
    coalesce(sum(o.amount), 0) as total_amount,
    cast(min(o.ordered_at) as date) as first_order_date
from {{ ref('raw_customers') }} as c
left join {{ ref('raw_orders') }} as o
    on o.customer_id = c.id
group by c.id, c.name, c.segment
