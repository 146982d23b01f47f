select x
from {{ ref('p', 'a', 'extra') }}
