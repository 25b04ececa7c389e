"""The JSON of the records the service sends: bounded whatever the room's size."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from chatservice.models import REACTION_USERS_SHOWN, Reaction


class ReactionJSONTests(SynchronousTestCase):
    """A reaction names its first users and counts them all."""

    def test_a_popular_reaction_names_the_first_users_only(self) -> None:
        reaction = Reaction("+1", tuple(range(1, 10_001)))
        body = reaction.to_json()
        self.assertEqual(body["count"], 10_000)
        self.assertEqual(body["user_ids"], list(range(1, REACTION_USERS_SHOWN + 1)))

    def test_a_small_reaction_names_everyone(self) -> None:
        self.assertEqual(
            Reaction(":ok:", (3, 1)).to_json(), {"emoji": ":ok:", "count": 2, "user_ids": [3, 1]}
        )
