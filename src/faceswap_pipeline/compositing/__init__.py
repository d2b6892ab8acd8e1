"""compositing"""
