"""`python -m linli_notification.main`: settings from the environment (see README)."""

from linli_notification.app import NotificationApp
from linli_notification.settings import NotificationSettings


def main() -> None:
    NotificationApp(NotificationSettings()).main()


if __name__ == "__main__":
    main()
