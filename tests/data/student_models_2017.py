# Model code as a 2017 student wrote it into the course's sample_models.py, below its imports: Keras 2
# calls (implementation=2, TimeDistributed(Dense(...)), print(model.summary())) and nothing imported here.
# The test and `python -m vui.seed_recipe_check --student-code` place it in a copy of sample_models.py.


def simple_rnn_model(input_dim, output_dim=29):
    """ Build a recurrent network for speech
    """
    # Main acoustic input
    input_data = Input(name='the_input', shape=(None, input_dim))
    # Add recurrent layer
    simp_rnn = GRU(output_dim, return_sequences=True,
                   implementation=2, name='rnn')(input_data)
    # Add softmax activation layer
    y_pred = Activation('softmax', name='softmax')(simp_rnn)
    # Specify the model
    model = Model(inputs=input_data, outputs=y_pred)
    model.output_length = lambda x: x
    print(model.summary())
    return model


def rnn_model(input_dim, units, activation, output_dim=29):
    """ Build a recurrent network for speech
    """
    input_data = Input(name='the_input', shape=(None, input_dim))
    simp_rnn = GRU(units, activation=activation,
                   return_sequences=True, implementation=2, name='rnn')(input_data)
    bn_rnn = BatchNormalization(name='bn_simp_rnn')(simp_rnn)
    time_dense = TimeDistributed(Dense(output_dim))(bn_rnn)
    y_pred = Activation('softmax', name='softmax')(time_dense)
    model = Model(inputs=input_data, outputs=y_pred)
    model.output_length = lambda x: x
    print(model.summary())
    return model


def cnn_rnn_model(input_dim, filters, kernel_size, conv_stride,
                  conv_border_mode, units, output_dim=29):
    """ Build a recurrent + convolutional network for speech
    """
    input_data = Input(name='the_input', shape=(None, input_dim))
    # Add convolutional layer
    conv_1d = Conv1D(filters, kernel_size,
                     strides=conv_stride,
                     padding=conv_border_mode,
                     activation='relu',
                     name='conv1d')(input_data)
    bn_cnn = BatchNormalization(name='bn_conv_1d')(conv_1d)
    simp_rnn = SimpleRNN(units, activation='relu',
                         return_sequences=True, implementation=2, name='rnn')(bn_cnn)
    bn_rnn = BatchNormalization(name='bn_rnn')(simp_rnn)
    time_dense = TimeDistributed(Dense(output_dim))(bn_rnn)
    y_pred = Activation('softmax', name='softmax')(time_dense)
    model = Model(inputs=input_data, outputs=y_pred)
    model.output_length = lambda x: cnn_output_length(
        x, kernel_size, conv_border_mode, conv_stride)
    print(model.summary())
    return model


def deep_rnn_model(input_dim, units, recur_layers, output_dim=29):
    """ Build a deep recurrent network for speech
    """
    input_data = Input(name='the_input', shape=(None, input_dim))
    layer = input_data
    for i in range(recur_layers):
        layer = GRU(units, activation='relu', return_sequences=True,
                    implementation=2, name='rnn_{}'.format(i))(layer)
        layer = BatchNormalization(name='bn_rnn_{}'.format(i))(layer)
    time_dense = TimeDistributed(Dense(output_dim))(layer)
    y_pred = Activation('softmax', name='softmax')(time_dense)
    model = Model(inputs=input_data, outputs=y_pred)
    model.output_length = lambda x: x
    print(model.summary())
    return model


def bidirectional_rnn_model(input_dim, units, output_dim=29):
    """ Build a bidirectional recurrent network for speech
    """
    input_data = Input(name='the_input', shape=(None, input_dim))
    bidir_rnn = Bidirectional(GRU(units, return_sequences=True, implementation=2),
                              merge_mode='concat')(input_data)
    time_dense = TimeDistributed(Dense(output_dim))(bidir_rnn)
    y_pred = Activation('softmax', name='softmax')(time_dense)
    model = Model(inputs=input_data, outputs=y_pred)
    model.output_length = lambda x: x
    print(model.summary())
    return model


def final_model(input_dim, filters=200, kernel_size=3, dilations=(1, 2, 4), pool_size=2,
                dropout_rate=0.2, units=200, output_dim=29):
    """ Build a deep network for speech: dilated convolutions, pooling, dropout, a GRU
    """
    input_data = Input(name='the_input', shape=(None, input_dim))
    conv = input_data
    for i, rate in enumerate(dilations):
        conv = Conv1D(filters, kernel_size, padding='valid', dilation_rate=rate,
                      activation='relu', name='conv1d_{}'.format(i))(conv)
        conv = BatchNormalization(name='bn_conv_{}'.format(i))(conv)
    pooled = MaxPooling1D(pool_size=pool_size)(conv)
    dropped = Dropout(dropout_rate)(pooled)
    rnn = GRU(units, activation='relu', return_sequences=True,
              implementation=2, name='rnn')(dropped)
    bn_rnn = BatchNormalization(name='bn_rnn')(rnn)
    time_dense = TimeDistributed(Dense(output_dim))(bn_rnn)
    y_pred = Activation('softmax', name='softmax')(time_dense)
    model = Model(inputs=input_data, outputs=y_pred)

    def output_length(x):
        for rate in dilations:
            x = cnn_output_length(x, kernel_size, 'valid', 1, dilation=rate)
        return x // pool_size
    model.output_length = output_length
    print(model.summary())
    return model
