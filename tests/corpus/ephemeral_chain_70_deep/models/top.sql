select x from {{ ref('e69') }}
