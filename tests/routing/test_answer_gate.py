from __future__ import annotations

from fleetcost.routing.answer_gate import answer_features, check_equations, final_answer


def test_arithmetic_is_rechecked() -> None:
    assert check_equations("16 - 3 = 13 and 13 - 4 = 9, so 9 * $2 = $<<9*2=18>>18") == (3, 0)
    assert check_equations("She has 12 x 3 = 38 apples") == (1, 1)
    assert check_equations("10 / 3 = 3.33") == (1, 0)  # rounded as written
    assert check_equations("1/0 = 5 and no maths here") == (0, 0)


def test_final_answer_shapes() -> None:
    assert final_answer("so ... #### 1,250") == (True, 1250.0)
    assert final_answer("The answer is 7.5 dollars") == (True, 7.5)
    assert final_answer("she ends with 4 apples") == (False, 4.0)
    assert final_answer("no numbers") == (False, None)


def test_features_flag_a_wrong_step_and_a_fractional_count() -> None:
    good = answer_features("3 cats and 4 dogs; how many?", "3 + 4 = 7\n#### 7")
    bad = answer_features("3 cats and 4 dogs; how many?", "3 + 4 = 8, half is 3.5\n#### 3.5")
    assert good[0] == bad[0] == 1.0  # both have the final marker
    assert good[1] == 1.0 and bad[1] == 0.0  # integer final answer
    assert good[6] == 0.0 and bad[6] == 1.0  # any wrong equation
