"""Event funnels: definitions, the analytics engines that answer them, drop-offs."""
