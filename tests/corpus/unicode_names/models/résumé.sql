select prénom from {{ ref('ventes_été') }}
