"""The demo app: a page that twitters messages and shows who received them."""
