-- Pushdown: `orders` is on `warehouse`, the model's own target, so this SQL runs
-- in SQLite unchanged.
select
    id as order_id,
    customer_id,
    amount,
    status
from {{ ref('orders') }}
where status != 'cancelled'
