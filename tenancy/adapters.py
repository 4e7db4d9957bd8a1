from allauth.account.adapter import DefaultAccountAdapter


class InviteOnlyAccountAdapter(DefaultAccountAdapter):
    """Members are added by a tenant admin; there is no self-service signup."""

    def is_open_for_signup(self, request) -> bool:
        return False
