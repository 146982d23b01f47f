select
  {{ no_such_macro('x') }} as x
