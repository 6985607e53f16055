"""The console's side of Graph: the tenant's dynamic groups read for ``plan`` (its port, its
adapter on the app's Graph client). Outside the deployed package (``.funcignore``); the app never
lists groups."""
