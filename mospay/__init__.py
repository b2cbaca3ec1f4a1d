"""MosPay: one payment gateway API in front of many mobile-money microservices."""

# PEP 440: the work after the v0.1.0 tag on the way to 0.2.0. A ".dev" release sorts before 0.2.0 and
# after 0.1.0, so a build from main never claims to be a release that does not exist yet.
__version__ = "0.2.0.dev0"
