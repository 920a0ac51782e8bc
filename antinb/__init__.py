"""antinb: antithetic noise in diffusion models — reproduce, test and extend."""

__version__ = "0.1.0"
