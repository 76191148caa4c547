from .base import *  # noqa: F403
from .base import database_from_env, env_bool

DEBUG = env_bool("DEBUG", True)
DATABASES = {"default": database_from_env("stylerec")}
