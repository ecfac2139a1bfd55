"""The learning benchmark: real job titles, cold / warm / adapted (`python -m bench.learning`)."""
