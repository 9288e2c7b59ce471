from django.apps import AppConfig


class BotclientConfig(AppConfig):
    name = "botclient"
    verbose_name = "Discord bot"
