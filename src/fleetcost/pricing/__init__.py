"""Prices and tokens: the catalog as data, one pure cost function, offline counting.

`tokens` (and its 0.5 s tokenizer import) is not imported here, so that code
needing only prices does not pay for it.
"""

from fleetcost.pricing.catalog import Catalog, load_catalog, price_from_dict
from fleetcost.pricing.cost import cost, format_usd

__all__ = ("Catalog", "cost", "format_usd", "load_catalog", "price_from_dict")
