select '{{ target.password }}' as p
