import org.junit.jupiter.api.Disabled;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

public class SquareGapTest {

    private final SquareGap squareGap = new SquareGap();

    @Test
    public void squareOfSumOfOne() {
        assertThat(squareGap.squareOfSum(1)).isEqualTo(1);
    }

    @Disabled("Remove to run test")
    @Test
    public void squareOfSumOfFive() {
        assertThat(squareGap.squareOfSum(5)).isEqualTo(225);
    }

    @Disabled("Remove to run test")
    @Test
    public void squareOfSumOfTen() {
        assertThat(squareGap.squareOfSum(10)).isEqualTo(3025);
    }

    @Disabled("Remove to run test")
    @Test
    public void sumOfSquaresOfOne() {
        assertThat(squareGap.sumOfSquares(1)).isEqualTo(1);
    }

    @Disabled("Remove to run test")
    @Test
    public void sumOfSquaresOfFive() {
        assertThat(squareGap.sumOfSquares(5)).isEqualTo(55);
    }

    @Disabled
    @Test
    public void sumOfSquaresOfTen() {
        assertThat(squareGap.sumOfSquares(10)).isEqualTo(385);
    }

    @Disabled("Remove to run test")
    @Test
    @DisplayName("the gap of five")
    public void gapOfFive() {
        assertThat(squareGap.gap(5)).isEqualTo(170);
    }

    @Disabled("Remove to run test")
    @Test
    public void gapOfTen() {
        assertThat(squareGap.gap(10)).isEqualTo(2640);
    }

    @Disabled("Remove to run test")
    @Test
    public void gapOfOneHundred() {
        assertThat(squareGap.gap(100)).isEqualTo(25164150);
    }

}
