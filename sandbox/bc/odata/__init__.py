"""The OData v4 subset Business Central implements: query options, ``$filter``, paging."""
