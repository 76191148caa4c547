from django.apps import AppConfig


class StyleRecLabConfig(AppConfig):
    name = "stylerec.lab"
    label = "stylerec_lab"
    verbose_name = "stylerec lab (training, evaluation, benchmarks)"
