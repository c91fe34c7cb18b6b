"""A tiny micro app: discounts for a sales team (the sample mrun runs in the quickstart)."""


def discounted(price_cents: int, percent: int) -> int:
    """Price after a percentage discount, rounded down to the cent; percent must be 0-90."""
    if not 0 <= percent <= 90:
        raise ValueError("discount must be between 0 and 90 percent")
    if price_cents < 0:
        raise ValueError("price must not be negative")
    return price_cents * (100 - percent) // 100


if __name__ == "__main__":
    print(discounted(1999, 15))
