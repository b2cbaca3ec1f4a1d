"""MosPay: one payment gateway API in front of many mobile-money microservices."""
