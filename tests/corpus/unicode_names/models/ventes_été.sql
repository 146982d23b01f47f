select 'Zoë' as prénom, 1 as n
