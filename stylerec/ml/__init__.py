"""The model layer: texts, images and arrays in, arrays out. It knows no ORM.

Each model kind lives in its own module behind a small Protocol (see ``base``); the class used is
chosen by an import-string setting and loaded once per process by ``registry.get``.
"""
